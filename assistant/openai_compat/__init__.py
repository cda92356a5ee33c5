"""Kaiwa as an OpenAI-compatible endpoint: `POST /v1/chat/completions`, `GET /v1/models`
and Azure's `POST /openai/deployments/{deployment}/chat/completions`, for any OpenAI
client pointed at Kaiwa with a personal API token as its key (docs/api.md)."""
