"""Paper Section 2, building the STAR-1 dataset: collecting and decontaminating harmful instructions
(``collection``, ``dedup``), labelling them with the 8 safety categories (``classification``,
``policies``), generating policy-grounded reasoning traces (``traces``), scoring them and selecting
1K (``scoring``, ``selection``), and the released STAR-1 (``release``)."""
