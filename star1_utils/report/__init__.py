"""The paper's figures and tables: the paper's own numbers and Table 1 beside a run (``paper``),
Figures 2-4 (``figures``), the charts the notebooks draw along the way (``charts``) and the shared
plot style (``viz``)."""
