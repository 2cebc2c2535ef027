"""Alarms: CloudWatch-shaped metric and composite alarms, evaluated by a background worker."""
