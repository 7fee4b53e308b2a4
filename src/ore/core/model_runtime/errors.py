"""Errors of the model runtime, with Dify's codes.

Matches Dify: ``controllers/console/app/error.py``.

Adapters translate every upstream failure into one of these, so no SDK exception ever
reaches a caller and becomes a 500.
"""

from __future__ import annotations

from ore.core.errors import BadRequest, InvalidParam, OreError


class ModelRuntimeError(OreError):
    """Base of the runtime's errors; ``retryable`` drives retries and credential cooldown."""

    retryable: bool = False


class CredentialsInvalid(ModelRuntimeError, InvalidParam):
    """The provider refused the credentials; the message is the provider's."""

    code = "invalid_param"
    status = 400


class ProviderNotInitialized(ModelRuntimeError, BadRequest):
    code = "provider_not_initialize"
    status = 400
    default_message = (
        "No valid model provider credentials found. "
        "Please go to Settings -> Model Provider to complete your provider credentials."
    )


class RateLimited(ModelRuntimeError):
    code = "rate_limit_error"
    status = 429
    default_message = "Rate Limit Error"
    retryable = True


class InvalidModelParameter(ModelRuntimeError, InvalidParam):
    """A bad or out-of-range parameter (or a context that is too long); names the parameter."""

    code = "invalid_param"
    status = 400

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class CompletionRequestError(ModelRuntimeError, BadRequest):
    """Upstream failure, timeout, or a malformed or cut stream."""

    code = "completion_request_error"
    status = 400
    default_message = "Completion request failed."

    def __init__(self, message: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ModelNotFound(ModelRuntimeError, InvalidParam):
    code = "invalid_param"
    status = 400


def timed_out() -> CompletionRequestError:
    """The upstream call timed out (retryable), worded the same by every adapter."""
    return CompletionRequestError("The model provider timed out.", retryable=True)


def unreachable(cause: BaseException) -> CompletionRequestError:
    """The upstream could not be reached (retryable)."""
    return CompletionRequestError(f"Could not reach the model provider: {cause}", retryable=True)


def malformed(what: object) -> CompletionRequestError:
    """The upstream answered with something that is not a valid response."""
    return CompletionRequestError(f"Malformed response from the model provider: {what}")
