"""gpuplan: plan GPU deployments of DeepSeek models and other open LLMs."""

__version__ = "0.1.0"
