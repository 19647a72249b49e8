"""The run machinery, task-free: the run directory (``rundir``), training through a schedule's phases with
resume (``phases``), optimizers and learning-rate schedules (``optim``), ``tf.distribute`` strategies
(``distribute``), the precision policy (``precision``), run-folder safety and locks (``safety``) and the
learning curves (``curves``). Importing this package loads nothing."""
