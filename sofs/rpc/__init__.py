"""DCE/RPC over SMB named pipes: the IPC$ services (srvsvc, wkssvc) that Windows tools expect."""
