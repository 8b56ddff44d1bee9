"""Accounts: teams, their users and roles."""
