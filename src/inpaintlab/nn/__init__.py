"""inpaintlab.nn"""
