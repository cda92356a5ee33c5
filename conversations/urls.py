from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="home"),
    path("c/<uuid:conversation_id>/", views.chat, name="chat"),
    path("c/<uuid:conversation_id>/messages/", views.message_list, name="chat-messages"),
    path("notes/", views.notes, name="notes"),
    path("images/", views.images, name="images"),
]
