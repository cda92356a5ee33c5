"""Attachments: files people send with a message (images and documents)."""
