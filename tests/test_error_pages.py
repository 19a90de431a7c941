import pytest
from django.template.loader import render_to_string


@pytest.mark.django_db
def test_unknown_address_gets_the_portal_404_page(client, admin_user, settings):
    settings.DEBUG = False
    client.force_login(admin_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content
    assert b"Log out" in response.content


def test_500_page_renders_without_a_request_context():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
