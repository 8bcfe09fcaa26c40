"""How runs are measured: the worker, its event protocol, framework trace hooks, samplers,
and the controller that supervises workers. Imports no framework at package level."""
