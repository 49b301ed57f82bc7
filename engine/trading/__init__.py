"""The trading layer: sizing, risk rules, the executor of intents and the engine loop."""
