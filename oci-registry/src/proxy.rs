//! Proxies from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, chosen per scheme as Go does.
