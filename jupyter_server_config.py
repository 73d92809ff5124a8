# The project's Jupyter server settings for `make lab` (`jupyter lab --config jupyter_server_config.py`).
# The contents manager is not set here but in the environment, for every Jupyter started with it:
# `make install` copies jupyter-config/jupyter_server_config.json into
# .venv/etc/jupyter/ (see the README, "Exploring in JupyterLab").
c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
