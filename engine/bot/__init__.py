"""The composition root: one bot assembled from a loaded profile (session, venues), and the services
around its trading loop that talk to people (statistics, notifications, Telegram control).

Drivers in `engine.run` use this package; nothing here imports a driver.
"""
