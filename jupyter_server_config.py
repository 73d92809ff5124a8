# The project's Jupyter server configuration: `make lab` (or `jupyter lab --config jupyter_server_config.py`).
# Ploomber's own contents manager breaks every file listing on the pinned jupytext (an asynchronous
# manager read synchronously); this one keeps its cell injection: a pipeline notebook opened here
# shows the values `ploomber build` passes it, in a cell tagged `injected-parameters`, removed on save.
c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file
c.ServerApp.contents_manager_class = "lab2prod_ploomber.jupyter.InjectingContentsManager"
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
