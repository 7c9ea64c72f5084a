from __future__ import annotations

import httpx


async def test_unknown_route_is_a_404_envelope_with_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.headers["x-request-id"] == "abc-123"
