"""collector-routes: route and schedule optimizer for field debt collectors.

One subpackage per stage of the day, data flowing one way (README, "Architecture"):
io -> geo -> planning -> routing -> outputs -> cli, with plan.py running the pipeline, model.py
the data every stage exchanges, whatif/ planning variants and web/ serving a written plan.
"""

__version__ = "0.1.0"
