"""Running the suite: profiles (``config``), the stage table (``stages``), each notebook's context
(``notebook``), the papermill runner (``runner``), artifacts and manifests (``artifacts``), data
resources and the local mirror (``resources``), library versions (``environment``) and notebook
hygiene (``hygiene``)."""
