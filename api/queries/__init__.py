"""SQL per resource. Each function takes the request's tenant-scoped connection and
keyword-only arguments; RLS confines every statement to the caller's tenant."""
