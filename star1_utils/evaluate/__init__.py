"""Paper Sections 3.1 and 4.3, evaluation: generating the student's answers (``generation``), safety
benchmarks and judges (``safety_benchmarks``, ``judges``, ``safety``), refusal classes
(``refusal``), reasoning benchmarks (``reasoning_benchmarks``, ``reasoning``) and over-refusal with
its benign-mix remedy (``overrefusal``)."""
