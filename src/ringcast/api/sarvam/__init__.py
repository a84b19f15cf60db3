"""The Sarvam-compatible surface: /api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}."""
