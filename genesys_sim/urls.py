from __future__ import annotations

from django.urls import path

from genesys_sim import observations, rest_api, users_api, views

# The real org splits these over two hosts (login.* for the token, api.* for the rest); the
# simulated org serves both under /sim/, so GENESYS_LOGIN_URL and GENESYS_API_URL are the same.
urlpatterns = [
    path("oauth/token", views.oauth_token, name="genesys_sim_oauth_token"),
    path("api/v2/analytics/graphql", views.analytics_graphql, name="genesys_sim_graphql"),
    path(
        "api/v2/analytics/conversations/details/query",
        rest_api.conversation_details_query,
        name="genesys_sim_details_query",
    ),
    path(
        "api/v2/analytics/conversations/aggregates/query",
        rest_api.conversation_aggregates_query,
        name="genesys_sim_aggregates_query",
    ),
    path(
        "api/v2/analytics/users/aggregates/query",
        users_api.users_aggregates_query,
        name="genesys_sim_users_aggregates_query",
    ),
    path(
        "api/v2/analytics/queues/observations/query",
        observations.queue_observations_query,
        name="genesys_sim_queue_observations_query",
    ),
    path("api/v2/routing/queues", rest_api.routing_queues, name="genesys_sim_routing_queues"),
    path("api/v2/users", rest_api.users, name="genesys_sim_users"),
    path("_stats", views.stats, name="genesys_sim_stats"),
    path("_reset", views.reset, name="genesys_sim_reset"),
    path("_faults", views.faults, name="genesys_sim_faults"),
]
