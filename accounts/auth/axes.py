"""django-axes' view of a login attempt made through allauth's form."""


def login_tried(request, credentials: dict | None) -> str | None:
    """The username (or email) an attempt used: from the credentials allauth passes to
    `authenticate()` (it always sets "username" when logging in by username is allowed), else
    from the form's "login" field (axes' own checks outside an authenticate call)."""
    if credentials:
        tried = credentials.get("username") or credentials.get("email")
        if tried:
            return str(tried)
    if request is not None and hasattr(request, "POST"):
        return request.POST.get("login") or request.POST.get("username")
    return None
