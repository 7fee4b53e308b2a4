"""Azure OpenAI: deployments instead of model names, an API version per credential."""

from ore.core.model_runtime.catalogue import FormField, I18n, ProviderDescriptor
from ore.core.model_runtime.openai_compat import AzureOpenAIAdapter
from ore.core.model_runtime.vendors._common import api_key_field, base_url_field

provider = AzureOpenAIAdapter(
    ProviderDescriptor(
        provider="azure_openai",
        label=I18n(en_US="Azure OpenAI Service Model"),
        supported_model_types=["llm", "text-embedding"],
        configurate_methods=["customizable-model"],
        credential_form_schemas=[
            base_url_field(None, variable="openai_api_base"),
            api_key_field(variable="api_key"),
            FormField(
                variable="openai_api_version",
                label=I18n(en_US="API Version"),
                required=True,
                default="2024-10-21",
            ),
        ],
        model_credential_schemas=[],
    ),
    None,
)
