"""Billing: plans, payments through a gateway, and the subscriptions they activate."""
