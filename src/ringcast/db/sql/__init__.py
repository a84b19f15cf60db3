"""The SQL store's parts, one job each; ``db.store.SqlStore`` assembles them.

base         the engine, the transaction, reading rows into values
bulk         PostgreSQL's one-statement IN, UPDATE and INSERT over arrays
accounts     organizations, workspaces, API keys, agents
campaigns    campaigns, contacts, cohorts: writes and the lists the API shows
cohorts      cohort uploads as durable jobs: files, lease, one transaction per batch
compliance   calling policies, the do-not-call list, refusals, facts about numbers
connections  telephone connections
planning     the planning transaction (and what the dispatcher asks before it)
ends         the call-end transaction, withdrawal and reconciliation
outbox       webhook deliveries: queued with their change, claimed, recorded
calls        calls as the API surfaces read them back, and the operator's figures
exports      a campaign's results streamed for CSV exports
sealing      secrets at rest: checking the key, sealing them again after a rotation
ratelimits   request counts per fixed window, shared by every API process
dashboard    what the dashboard reads: tallies, contacts by number, charts' instants
"""
