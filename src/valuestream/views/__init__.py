"""Views: pictures, charts and the report. They render results; they compute nothing of their own."""
