"""Interchangeable engine components, one concept per module; see engine.registry for how they are chosen."""
