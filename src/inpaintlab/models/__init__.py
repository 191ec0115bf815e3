"""inpaintlab.models"""
