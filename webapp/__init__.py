"""Facial emotion recognition in the browser.

`webapp.vision` is the engine and imports without the web stack;
`webapp.app.create_app` builds the Flask app around it.
"""
