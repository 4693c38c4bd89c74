"""The fleet-wide rollout status: owners publish it (``publisher``), every worker and
``rollguard status`` materialise it (``table``, ``reader``), humans read it (``render``)."""
