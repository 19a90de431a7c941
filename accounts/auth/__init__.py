"""Authentication: how django-allauth and django-axes are fitted to the portal."""
