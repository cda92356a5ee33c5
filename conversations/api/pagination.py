from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Conversations and notes: newest first."""

    ordering = ("-updated_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


class NotesCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class OldestFirstCursorPagination(CursorPagination):
    """Messages: oldest first, like reading a chat."""

    ordering = ("created_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
