from django.urls import path

from assistant.openai_compat import views

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="v1-chat-completions"),
    path("v1/models", views.models, name="v1-models"),
    path(
        "openai/deployments/<str:deployment>/chat/completions",
        views.azure_chat_completions,
        name="azure-chat-completions",
    ),
]
