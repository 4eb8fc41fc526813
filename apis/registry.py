"""Every API this portal serves. Add a new API's spec here."""

from apis.books.spec import BOOKS

SERVED_APIS = (BOOKS,)
