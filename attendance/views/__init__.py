"""Views of attendance, one module per idea: the nurse's day (``day``), booking from free slots and moving
an appointment (``booking``), the child's page and registering a child (``child``), working hours and
their exceptions (``working_hours``)."""
