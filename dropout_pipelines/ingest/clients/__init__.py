"""The Open edX and LRS clients: HTTP, authentication, paging, payload validation, xAPI
parsing and the DataFrame contract of what they return. No Dagster and no warehouse here,
so the clients can be used (and tested) on their own against any Open edX or LRS."""
