"""Select fields declare their choices as wtforms.SelectChoice: (value, label) tuples are
deprecated in WTForms 3.3 and removed in 3.4, so no page may trigger that warning."""

from __future__ import annotations

import warnings

from admin.services import domains
from admin.services.orgs import NewOrg
from tests.helpers.web import Web


def test_select_fields_render_and_validate_without_deprecated_choices(
    web: Web, org: NewOrg
) -> None:
    domain = domains.create_domain(org.org_id, "go.acme.test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new_link = web.get("/links/new").get_data(as_text=True)
        team = web.get("/team").get_data(as_text=True)
        saved = web.post(
            "/links/new",
            {
                "destination": "https://example.org/",
                "domain_id": str(domain.id),
                "actions-0-type": "add_tag",
                "actions-0-value": "clicked",
            },
            page="/links/new",
        )
        invited = web.post("/team/invite", {"email": "m@acme.test", "role": "admin"}, page="/team")
    deprecated = [str(w.message) for w in caught if "choices" in str(w.message).lower()]
    assert deprecated == []
    assert f'<option selected value="{domain.id}">go.acme.test</option>' in new_link
    assert '<option value="add_tag">Add tag</option>' in new_link
    assert 'id="short-host">go.acme.test<' in new_link  # the example short URL
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert invited.status_code == 201, invited.get_data(as_text=True)
    assert 'value="admin"' in team and ">Member</option>" in team
