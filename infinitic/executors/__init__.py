"""Executors run user code: service tasks, and (next) workflow tasks."""
