# The project's Jupyter server settings for `make lab` (`jupyter lab --config jupyter_server_config.py`).
# A plain `jupyter lab` / `jupyter server` reads .venv/etc/jupyter/jupyter_server_config.json instead
# (`make install` copies jupyter-config/jupyter_server_config.json there), but `--config FILE` makes
# Jupyter read only FILE: so the contents manager is named in both. It keeps Ploomber's cell injection
# working on the pinned jupytext; Ploomber's own contents manager answers HTTP 500 to every listing.
c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file
c.ServerApp.contents_manager_class = "lab2prod_ploomber.jupyter.InjectingContentsManager"
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
