"""What people read and sign: the replay report and its charts, Grafana annotations, the
status screens of ``rollguard status``, operator controls (kill, resume, sign-off), ``rollguard
tail`` and the evidence export. Reads the core's explanations, the fleet status and the control
topic; the workers import only :mod:`.annotations` from here."""
