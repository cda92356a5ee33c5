"""Server-rendered pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from conversations import selectors


@login_required
def home(request):
    conversations = selectors.conversation_list(user=request.user)[:100]
    return render(request, "conversations/home.html", {"conversations": conversations})
