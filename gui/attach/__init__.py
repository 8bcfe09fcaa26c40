"""The flame view of sampled Python stacks (`attach --pid`): flame_model.py (Qt-free), flame_view.py."""
