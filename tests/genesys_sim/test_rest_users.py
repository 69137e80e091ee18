"""GET /sim/api/v2/users: the org's agents, by name, paged like the queue list."""

from __future__ import annotations

from genesys_sim import org
from tests.genesys_sim.rest_helpers import USERS_URL


def test_it_lists_every_agent_by_name_in_one_default_page(client, token):
    response = client.get(
        USERS_URL, {"pageSize": 100}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    names = [e["name"] for e in body["entities"]]
    assert names == sorted(names) and len(set(names)) == len(org.AGENT_IDS)
    assert {e["id"] for e in body["entities"]} == set(org.AGENT_IDS)
    entity = body["entities"][0]
    assert entity == {
        "id": entity["id"],
        "name": entity["name"],
        "state": "active",
        "selfUri": f"/api/v2/users/{entity['id']}",
    }
    assert (body["pageNumber"], body["total"], body["pageCount"]) == (1, 32, 1)


def test_it_pages_with_page_size_and_page_number(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    default = client.get(USERS_URL, headers=headers).json()
    assert (default["pageSize"], len(default["entities"]), default["pageCount"]) == (25, 25, 2)
    assert default["nextUri"] == "/api/v2/users?pageSize=25&pageNumber=2"
    second = client.get(USERS_URL, {"pageNumber": 2}, headers=headers).json()
    assert len(second["entities"]) == 7 and "nextUri" not in second
    assert second["previousUri"] == "/api/v2/users?pageSize=25&pageNumber=1"
    ids = [e["id"] for e in default["entities"] + second["entities"]]
    assert sorted(ids) == sorted(org.AGENT_IDS)


def test_it_refuses_a_page_size_over_500_and_needs_a_token(client, token):
    response = client.get(
        USERS_URL, {"pageSize": 501}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert "pageSize" in response.json()["message"]
    assert client.get(USERS_URL).status_code == 401
