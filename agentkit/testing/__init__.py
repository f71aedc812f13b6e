"""Test doubles for agentkit users: scripted and replay models, a local server, a pytest plugin."""
