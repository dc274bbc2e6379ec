"""The paper's figures and tables: the paper's own numbers (``paper``), the figures beside them
(``figures``) and the shared plot style (``viz``)."""
