"""dlcourse.data"""
