"""GET /sim/api/v2/routing/queues: the paged entity list."""

from __future__ import annotations

from genesys_sim import org

URL = "/sim/api/v2/routing/queues"


def test_it_lists_the_queues_by_name_in_one_default_page(client, token):
    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [e["name"] for e in body["entities"]] == ["Billing", "Retention", "Sales", "Support"]
    assert {e["id"] for e in body["entities"]} == {q.id for q in org.QUEUES}
    assert (body["pageSize"], body["pageNumber"], body["total"], body["pageCount"]) == (25, 1, 4, 1)
    assert "nextUri" not in body


def test_it_pages_with_page_size_and_page_number(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get(URL, {"pageSize": 3, "pageNumber": 1}, headers=headers).json()
    second = client.get(URL, {"pageSize": 3, "pageNumber": 2}, headers=headers).json()
    assert [len(first["entities"]), len(second["entities"])] == [3, 1]
    assert first["pageCount"] == second["pageCount"] == 2
    assert first["nextUri"] == "/api/v2/routing/queues?pageSize=3&pageNumber=2"
    assert client.get(URL, {"pageNumber": 9}, headers=headers).json()["entities"] == []


def test_it_refuses_a_page_size_over_500_and_needs_a_token(client, token):
    response = client.get(URL, {"pageSize": 501}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert "pageSize" in response.json()["message"]
    assert client.get(URL).status_code == 401


def test_each_queue_has_its_service_level_per_media_type(client, token):
    body = client.get(URL, headers={"Authorization": f"Bearer {token}"}).json()
    settings = {e["name"]: e["mediaSettings"] for e in body["entities"]}
    # The SDKs' QueueMediaSettings names voice "call"; ServiceLevel is a share and milliseconds.
    assert all(
        set(s) == {"call", "callback", "chat", "email", "message"} for s in settings.values()
    )
    assert settings["Sales"]["call"]["serviceLevel"] == {"percentage": 0.8, "durationMs": 20_000}
    assert settings["Billing"]["email"]["serviceLevel"] == {
        "percentage": 0.9,
        "durationMs": 4 * 3_600_000,
    }
    voice = {name: s["call"]["serviceLevel"] for name, s in settings.items()}
    assert len({(v["percentage"], v["durationMs"]) for v in voice.values()}) > 1
